from hposweep.entry import main

main()
