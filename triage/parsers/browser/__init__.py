"""Browser history: Chromium-family History databases (:mod:`.chromium`: Chrome, Edge, Brave...) and
Firefox places.sqlite (:mod:`.firefox`), each one parser over a read-only SQLite copy."""
