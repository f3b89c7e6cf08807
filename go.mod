module cyclepix

go 1.26
