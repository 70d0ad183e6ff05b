"""Interactive explorers (ipywidgets) used in the live notebooks; each has a static
figure function beside it that the rendered book shows."""
