"""The collector: profile -> file sources -> bundle. Standard library + PyYAML/tqdm/psutil only."""
