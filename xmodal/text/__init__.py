"""The text side: word and sentence spaces, how a word or an expression becomes a vector, the vocabulary answers come from."""
