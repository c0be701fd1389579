"""The render tier: the chapter registry, the book's build (train, execute, render), what each page says about
how it was made, the claims scoreboard, the cost page, and the helpers every notebook calls."""
