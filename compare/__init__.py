"""compare: everything that uses both twins. The only package that imports both."""
