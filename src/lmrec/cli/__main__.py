from lmrec.cli.app import main

main()
