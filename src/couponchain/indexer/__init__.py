"""Chain events -> SQL read models."""
