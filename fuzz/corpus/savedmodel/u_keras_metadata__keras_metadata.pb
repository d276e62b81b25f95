
Yroot.layer-0"_tf_keras_layer*8{"class_name": "InputLayer", "name": "l0", "config": {}}
Xroot.layer-1"_tf_keras_layer*5{"class_name": "Flatten", "name": "l1", "config": {}}
Vroot.layer-2"_tf_keras_layer*3{"class_name": "Dense", "name": "l2", "config": {}}