"""The web page (xmodal serve) over Engine.query, and its thumbnails."""
