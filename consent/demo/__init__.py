"""Demo data: a synthetic district roster for trying Accordant out."""
