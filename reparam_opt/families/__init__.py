"""What q is: the families of distributions whose parameters are trained."""
