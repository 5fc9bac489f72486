"""Project CodeNet: statements, submission metadata and sources, and fixture trees in its layout."""
