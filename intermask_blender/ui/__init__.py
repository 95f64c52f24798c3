"""bpy glue: preferences, properties, operators and panels. Each module ends with a CLASSES list."""
