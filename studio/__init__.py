"""The app's support code, one module a job, beside the pages: the `gan` package never imports it (or streamlit).

models (what can be picked, cached loading), scores (reading and showing evaluations), launch (starting and
tracking trainings), export (downloads), messages (what a visitor reads), policy (demo mode and its caps).
"""
