"""Deep-learning foundations the roadmap starts with: autograd, backprop, CNNs, autoencoders, GANs, Siamese nets."""
