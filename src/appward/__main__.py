from appward.cli import main

main()
