"""Walking, decoding, embedding and writing photos into a store (see issue: `xmodal index`)."""
