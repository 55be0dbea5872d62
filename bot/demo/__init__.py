"""The bundled demo clinic: config, patient directory and a morning of inbound messages."""
