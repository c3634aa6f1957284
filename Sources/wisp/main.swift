import Wisp
print("wisp")
