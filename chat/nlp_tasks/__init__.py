"""Task endpoints (classify, summarize, extract): each model call is admitted and recorded like any other answer."""
