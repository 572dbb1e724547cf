"""Every page of the dashboard, in menu order, with the one question it answers (the Overview lists them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageEntry:
    path: str
    title: str
    icon: str
    question: str


PAGES: tuple[PageEntry, ...] = (
    PageEntry("pages/overview.py", "Overview", ":material/dashboard:",
              "Which of the two runs rebuilds test digits better, and by how much against PCA?"),
    PageEntry("pages/training.py", "Training curves", ":material/show_chart:",
              "How did the losses fall, which epoch was kept, and how do other runs compare?"),
    PageEntry("pages/timeline.py", "Training timeline", ":material/movie:",
              "What did each model draw after every epoch of its training?"),
    PageEntry("pages/reconstructions.py", "Reconstructions", ":material/image:",
              "What do the rebuilt test digits look like, and where are the pixel errors?"),
    PageEntry("pages/per_digit.py", "Per-digit error", ":material/table_chart:",
              "Which digits does each run rebuild worse, and is the gap more than luck?"),
    PageEntry("pages/latent_space.py", "Latent space", ":material/scatter_plot:",
              "How do the codes arrange the digits, and what lies between them?"),
    PageEntry("pages/error_gallery.py", "Error gallery", ":material/grid_view:",
              "Which test digits are rebuilt worst and best, and do both runs fail on them?"),
    PageEntry("pages/robustness.py", "Robustness", ":material/blur_on:",
              "How fast does the error grow under noise, occlusion and shifts?"),
    PageEntry("pages/own_digit.py", "Draw a digit", ":material/draw:",
              "What do the models make of a digit you draw?"),
    PageEntry("pages/bottleneck_sweep.py", "Bottleneck sweep", ":material/tune:",
              "How much does a wider code buy, against PCA at the same width?"),
    PageEntry("pages/studies.py", "Studies", ":material/science:",
              "Which sweeps and tuning studies ran, what did each trial score, and which run came out best?"),
    PageEntry("pages/latent_quality.py", "Latent quality", ":material/verified:",
              "How well do the codes tell the ten digits apart?"),
    PageEntry("pages/runs.py", "Runs", ":material/folder_open:",
              "Which runs exist? Sort, filter, put one into a slot, delete, export."),
)  # fmt: skip
