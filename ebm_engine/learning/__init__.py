"""Learning methods (one file each) and the trainer that drives them."""
