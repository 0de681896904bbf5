"""Planning: operations -> phased steps (expand -> migrate -> contract), each with its DOWN."""
