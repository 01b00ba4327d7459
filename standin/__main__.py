"""`python -m standin`: the SageMaker stand-in as a server of its own."""

from standin.sagemaker import main

main()
