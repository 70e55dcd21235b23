"""``python -m elemgrad_gpu`` runs the demonstration of the motivating problem."""
from elemgrad_gpu.demo import main

main()
