"""The tutor: explain, the toy expansion, check (a verdict on a learner's formula), the identity catalog."""
