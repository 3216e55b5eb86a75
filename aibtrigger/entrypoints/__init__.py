"""One blueprint module per trigger kind: translate the payload, hand it to the service layer."""
