from dlcompress.cli import run

run()
