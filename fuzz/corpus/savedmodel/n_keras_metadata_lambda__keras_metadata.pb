
Yroot.layer-0"_tf_keras_layer*8{"class_name": "InputLayer", "name": "l0", "config": {}}
root.layer-1"_tf_keras_layer*\{"class_name": "Lambda", "name": "l1", "config": {"function": ["4wEAAAAAAAAA", null, null]}}
Vroot.layer-2"_tf_keras_layer*3{"class_name": "Dense", "name": "l2", "config": {}}