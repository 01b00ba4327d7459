"""registry-sync: mirror the Amazon SageMaker Model Registry into PostgreSQL."""

__version__ = "0.1.0"
