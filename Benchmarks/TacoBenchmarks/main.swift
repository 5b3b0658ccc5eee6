import Imaging
print("placeholder")
