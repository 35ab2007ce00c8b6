"""The command-line interface: parse arguments, call one core function, render."""
