module cyclepix

go 1.26.0

require (
	github.com/nlpodyssey/gopickle v0.2.0
	golang.org/x/sys v0.50.0 // indirect
)
