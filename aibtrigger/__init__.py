"""aibtrigger: keeps Azure VM Image Builder templates current."""
