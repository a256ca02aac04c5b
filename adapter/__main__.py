from adapter.cli import main

# Guarded: uvicorn's worker processes (serve --workers N) are spawned, and a spawned child
# imports the parent's __main__ module; unguarded, each worker would run the CLI again.
if __name__ == "__main__":
    raise SystemExit(main())
