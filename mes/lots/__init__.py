"""Work orders, lots, step runs, layers, measurements and genealogy."""
