"""The data tier: real text and facts that ship offline (Unicode CLDR through babel, Sphinx's message
catalogues) and the writing systems the synthetic world writes in. Nothing here knows a model or a run."""
