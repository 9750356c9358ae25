"""Weight penalties added to the loss, as Keras's `kernel_regularizer=L2(l2)`."""


class L2:
    """penalty(W) = l2 * sum(W ** 2)   (no 1/2, and not divided by the batch size: Keras's form)
    d penalty / dW = 2 * l2 * W        (in, out), added to the kernel's gradient
    """

    def __init__(self, l2=0.01):
        l2 = float(l2)
        if not (l2 >= 0 and l2 != float("inf")):
            raise ValueError(f"l2 must be a non-negative number, got {l2}")
        self.l2 = l2

    def __call__(self, kernel):
        return self.l2 * float(_sum_of_squares(kernel))

    def gradient(self, kernel):
        return (2 * self.l2) * kernel


def _sum_of_squares(kernel):
    # sum(W * W) as one dot product of the flattened kernel with itself: no (in, out) temporary.
    flat = kernel.reshape(-1)
    return flat @ flat
