"""Messages to customers outside a conversation turn: SMS text rules and the outbound sender."""
