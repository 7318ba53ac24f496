"""Values parsed once: digests, references, media types, secrets, layout locations."""
