"""The rewards catalogue: what customers can spend their points on, configured by the program."""
