"""Microsoft Teams transport: Adaptive Card rendering of cards, lines and documents. bot/ never imports it."""
