"""b12-fhir-adapter: is the B12 injection claim backed by the chart?"""

__version__ = "0.1.0"
