"""Side panels: data catalogue, generated settings forms, transport buttons."""
