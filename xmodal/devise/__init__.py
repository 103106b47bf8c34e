"""The DeViSE model that joins the two sides: the map from visual features into the text space, its file, its hub penalty, the encoder."""
