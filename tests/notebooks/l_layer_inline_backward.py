import numpy as np


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def L_model_backward(AL, Y, caches):
    grads = {}
    L = len(caches)
    m = AL.shape[1]
    dA = -(Y / AL - (1 - Y) / (1 - AL))
    for l in range(L, 0, -1):
        c = caches[l - 1]
        if l == L:
            s = sigmoid(c["Z"])
            dZ = dA * s * (1 - s)
        else:
            dZ = dA * (c["Z"] > 0)
        grads["dW" + str(l)] = np.dot(dZ, c["A_prev"].T) / m
        grads["db" + str(l)] = np.sum(dZ, axis=1, keepdims=True) / m
        dA = np.dot(c["W"].T, dZ)
        grads["dA" + str(l - 1)] = dA
    return grads
