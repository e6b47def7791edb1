"""Chat models: provider adapters, routing between models, the scripted model, prices, token
counts, usage and budgets."""
