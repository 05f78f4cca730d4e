"""The churn-risk model: who is likely to leave, and why (features, simulation, training, scores).

Plain scikit-learn, no Rasa. ``features`` defines the one feature schema (the CSV a company
exports and what is computed from this product's database), ``simulate`` the documented demo
process, ``model`` training on a time-based split, evaluation against a baseline, the versioned
model file and scores with their top drivers.
"""
