"""Published test vectors for the QR document format and the offline verdict."""
