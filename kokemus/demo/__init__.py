"""Seeded demo scenarios from the source articles: an appliance web shop (B2C), an excavator
dealer (B2B) and the Customer's Choice store (IoT). See docs/demo.md for the planted truths."""
